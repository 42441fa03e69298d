import { expect, test } from "bun:test";
import { ProtocolError } from "@ncn/protocol";
import { parseSubnetModels } from "./subnet-models.ts";

test("--model takes a price per request, or a base fee and prices per prompt and completion token", () => {
  expect(parseSubnetModels("ncn-gpt=1000:2:5,tiny-mlp=300")).toEqual([
    { id: "ncn-gpt", price: "1000", pricing: { promptToken: "2", completionToken: "5" } },
    { id: "tiny-mlp", price: "300" },
  ]);
});

test("--model refuses what is neither form, naming the model", () => {
  for (const bad of [
    "ncn-gpt=1:2",
    "ncn-gpt=1:2:3:4",
    "ncn-gpt=1:-2:3",
    "ncn-gpt=a",
    "ncn-gpt",
    "ncn-gpt=1=2",
  ]) {
    expect(() => parseSubnetModels(bad)).toThrow(ProtocolError);
  }
  expect(() => parseSubnetModels("ncn-gpt=1:x:3")).toThrow(/ncn-gpt prompt-token price/);
});
