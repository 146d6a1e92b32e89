"""Generated protobuf code for twin."""
