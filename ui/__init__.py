"""Gradio tabs: layout and wiring only, over ops and the model registry."""
