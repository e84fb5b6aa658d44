"""What clerks and auditors read: the daily digest, a letter's path, register exports."""
