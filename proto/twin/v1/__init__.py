"""Generated protobuf code for twin/v1."""
