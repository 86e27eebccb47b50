"""Reading plates (sequences, video), colour handling and atomic image writes."""
