"""Asterisk REST Interface: the client (REST + events websocket), typed events, and channel/bridge operations."""
