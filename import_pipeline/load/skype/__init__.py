"""The skype family's load procedures: an export's messages, then the conversations and participants."""
