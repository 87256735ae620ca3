"""Follow-up (回访): satisfaction, agreement performance, closing and reopening."""
