"""The credits endpoints (DESIGN §11): thin views, one service or selector each."""
