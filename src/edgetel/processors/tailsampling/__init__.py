"""The tail_sampling processor: decide per whole trace which traces to keep."""
