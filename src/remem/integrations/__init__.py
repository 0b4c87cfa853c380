"""Thin adapters from agent frameworks to remem (each an optional extra):

- ``remem.integrations.langgraph``: ``RememStore``, a LangGraph ``BaseStore``
  (``pip install 'remem[langgraph]'``);
- ``remem.integrations.langchain``: ``RememRetriever`` and ``RememChatMessageHistory``
  (``remem[langchain]``);
- ``remem.integrations.llamaindex``: ``RememMemoryBlock`` and ``RememRetriever``
  (``remem[llamaindex]``);
- ``remem.integrations.openai_agents``: ``RememSession`` and ``recall_tool``
  (``remem[openai-agents]``).

Each takes any object with the ``Memory`` API: ``Memory``, ``Client`` (a server), or
for the async parts ``AsyncMemory`` / ``AsyncClient``. Everything interesting stays in
remem; the adapters only translate names and shapes. Nothing here is imported by
``import remem``.
"""
