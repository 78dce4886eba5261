"""Thin routers over the store's query functions; each module groups one kind of question."""
