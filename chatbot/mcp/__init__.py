"""The knowledge base as an MCP server (Model Context Protocol, the official `mcp` SDK), served by the
site's ASGI app at /mcp/ over the streamable HTTP transport.

Tools: `search_knowledge`, `ask`, `get_source`; resources: the caller's recent chat sessions. A caller is
a user with an API token (`Authorization: Bearer <key>`, the same expiring tokens as the REST API), and
every result goes through the chat's own services: retrieval filtered by what the user may see, the
database re-check, the answer service, the API's rate limits.
"""
