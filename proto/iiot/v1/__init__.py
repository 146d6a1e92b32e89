"""Generated protobuf code for iiot/v1."""
