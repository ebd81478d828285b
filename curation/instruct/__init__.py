"""Instruction and preference data: format converters, adaptation templates and the ops that curate
conversation (stage 2) and preference (stage 3) rows for the trainer."""
