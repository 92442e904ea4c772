"""The reference demo's front service: forwards questions to the chatbot."""
