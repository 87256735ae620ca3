"""Starting the local stack: the embedded broker and database, the service processes, the demo."""
