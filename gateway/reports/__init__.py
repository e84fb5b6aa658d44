"""What clerks and auditors read: the daily digest, a letter's path, register exports, and
registers printed in the regulation's layout or written as spreadsheets (layout, wrap,
thaifont, printed, sheet, source)."""
