"""Realistic inbound mail built at test time: letters as agencies' mail systems send them."""
