"""Generated protobuf code for iiot."""
