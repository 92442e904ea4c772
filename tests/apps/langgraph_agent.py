"""LangGraph agents and workflows run under the launcher by tests/e2e/test_langgraph.py.

``python langgraph_agent.py SCENARIO``; prints one JSON line of facts the test needs. The
model is a scripted tool-calling chat model: asked a question it calls both tools, given
their results it answers, so concurrent runs cannot take each other's turns. Nothing leaves
the machine.
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from opentelemetry import trace

warnings.simplefilter("ignore")  # create_react_agent's move to langchain.agents

USAGE = {
    "input_tokens": 20,
    "output_tokens": 6,
    "total_tokens": 26,
    "input_token_details": {"cache_read": 8},
    "output_token_details": {"reasoning": 2},
}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def get_time(city: str) -> str:
    """The local time in a city."""
    return f"12:00 in {city}"


class ScriptedChat(BaseChatModel):
    """Calls both tools for a question, answers once it has their results."""

    model_name: str = "fake-agent-model"

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        last = messages[-1]
        meta = {"model_name": self.model_name}
        if last.type == "tool":
            results = [m.content for m in messages if m.type == "tool"][-2:]
            reply = AIMessage(
                content="It is " + " and ".join(str(r) for r in results) + ".",
                usage_metadata=USAGE,  # type: ignore[arg-type]
                response_metadata={**meta, "finish_reason": "stop"},
            )
        else:
            city = str(last.content).rsplit(" ", 1)[-1].strip("?")
            reply = AIMessage(
                content="",
                tool_calls=[
                    {"name": "get_weather", "args": {"city": city}, "id": f"w-{city}"},
                    {"name": "get_time", "args": {"city": city}, "id": f"t-{city}"},
                ],
                usage_metadata=USAGE,  # type: ignore[arg-type]
                response_metadata={**meta, "finish_reason": "tool_calls"},
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


def react_agent(name: str | None = None) -> Any:
    from langgraph.prebuilt import create_react_agent

    return create_react_agent(
        ScriptedChat(), [get_weather, get_time], checkpointer=InMemorySaver(), name=name
    )


def workflow() -> Any:
    """A plain two-node graph: a workflow, not an agent."""

    def prepare(state: MessagesState) -> dict[str, Any]:
        return {"messages": [("user", "prepared")]}

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [ScriptedChat().invoke([("user", "time in Oslo?")])]}

    builder = StateGraph(MessagesState)
    builder.add_node("prepare", prepare)
    builder.add_node("answer", answer)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "answer")
    builder.add_edge("answer", END)
    return builder.compile()


def ask(agent: Any, question: str, thread: str) -> str:
    state = agent.invoke(
        {"messages": [("user", question)]}, {"configurable": {"thread_id": thread}}
    )
    return str(state["messages"][-1].content)


def scenario(name: str) -> Any:
    if name == "react":  # one conversation, two questions, two traces
        agent = react_agent()
        return [
            ask(agent, "weather in Paris?", "thread-42"),
            ask(agent, "and in Rome?", "thread-42"),
        ]
    if name == "create_agent":
        from langchain.agents import create_agent

        agent = create_agent(ScriptedChat(), [get_weather, get_time], checkpointer=InMemorySaver())
        return ask(agent, "weather in Lima?", "thread-7")
    if name == "named":
        return ask(react_agent("weather_agent"), "weather in Oslo?", "thread-1")
    if name == "workflow":
        state = workflow().invoke({"messages": [("user", "go")]})
        return str(state["messages"][-1].content)
    if name == "async":
        tracer = trace.get_tracer("app")
        agent = react_agent()

        async def one(i: int) -> Any:
            with tracer.start_as_current_span(f"request-{i}"):
                state = await agent.ainvoke(
                    {"messages": [("user", f"weather in city{i}?")]},
                    {"configurable": {"thread_id": f"thread-{i}"}},
                )
                return state["messages"][-1].content

        async def main() -> Any:
            return await asyncio.gather(*(one(i) for i in range(3)))

        return asyncio.run(main())
    raise SystemExit(f"unknown scenario {name}")


if __name__ == "__main__":
    print(json.dumps(scenario(sys.argv[1]), default=str))
