"""Tests of ``remem serve``, its API keys and MCP server (real processes on 127.0.0.1)."""
