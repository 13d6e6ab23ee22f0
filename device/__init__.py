"""What every field device runs besides its app: configuration, the key
store, the journal, list stores, the sync agent, provisioning."""
