"""Networks we own: each file holds a network and its build, nothing about loading or the app."""
