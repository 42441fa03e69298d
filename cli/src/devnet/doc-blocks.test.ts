import { expect, test } from "bun:test";
import { docBlocks } from "./doc-blocks.ts";

const md = [
  "# Title",
  "",
  "<!-- docs-test: skip (a diagram of the parts) -->",
  "```",
  "a -> b",
  "```",
  "",
  "<!-- docs-test: setup",
  'cp "$X/tiny.onnx" m.onnx',
  "-->",
  '<!-- docs-test: expect "ok \\"quoted\\"" "two" -->',
  "",
  "```sh",
  "echo ok",
  "```",
  "Some text.",
  "<!-- a plain comment -->",
  "```ts",
  "console.log(1);",
  "```",
].join("\n");

test("blocks carry their language, line, and the markers written above them", () => {
  const blocks = docBlocks("x.md", md);
  expect(blocks.map((b) => [b.line, b.lang, b.skip, b.setup, b.expect])).toEqual([
    [4, "", "a diagram of the parts", undefined, []],
    [13, "sh", undefined, 'cp "$X/tiny.onnx" m.onnx\n', ['ok "quoted"', "two"]],
    [18, "ts", undefined, undefined, []],
  ]);
  expect(blocks[1]?.code).toBe("echo ok\n");
});

test("a skip without a reason, an unknown marker and an unclosed block are errors", () => {
  expect(() => docBlocks("x.md", "<!-- docs-test: skip -->\n```sh\nls\n```\n")).toThrow("needs a reason");
  expect(() => docBlocks("x.md", "<!-- docs-test: run -->\n```sh\nls\n```\n")).toThrow(
    'unknown docs-test marker "run"',
  );
  expect(() => docBlocks("x.md", "```sh\nls\n")).toThrow("x.md:1: the code block is never closed");
});
