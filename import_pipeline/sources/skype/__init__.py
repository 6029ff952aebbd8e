"""Skype exports (`messages.json`, alone or in the export `.tar`): messages and their content."""
