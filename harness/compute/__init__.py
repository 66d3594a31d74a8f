"""Where work items run: devices and threads, and the joblib engines that spread the items over workers."""
