"""Pure image operations: PIL/tensors in, PIL/tensors out. No Gradio, no global state."""
