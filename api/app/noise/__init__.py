"""Noise control: suppressions and thresholds scoped by rule, source and destination CIDR and
expiry, previewed against stored alerts before they are saved, counted afterwards; and the
aggregation keys per rule. ``SuppressionFilter`` applies them to new alerts before storing."""
