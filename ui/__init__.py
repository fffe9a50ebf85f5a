"""Streamlit web UI over the rag library API (see ui/app.py)."""
