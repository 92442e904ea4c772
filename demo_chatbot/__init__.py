"""The reference demo's chatbot: FastAPI + LangChain RAG over a bundled manual."""
