"""Card operations written against :class:`card_layout.reader.ClassicReader`:
personalise, read and verify, debit, credit, state updates, sessions,
contracts and events. Each module's docstring gives its command counts."""
