// The fenced code blocks of a markdown file, with the `docs-test` comments written right above
// each one (blank lines between are allowed; any other line ends them):
//   <!-- docs-test: skip REASON -->        not run; the reason says why
//   <!-- docs-test: setup                  hidden shell lines run before the block
//   cp "$NCN_DOCS_FIXTURES/tiny.onnx" my-model.onnx
//   -->
//   <!-- docs-test: expect "a" "b" -->     what the block's output must contain

export interface DocBlock {
  /** The markdown file, relative to the repository's root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string up to the first space ("" when none). */
  lang: string;
  code: string;
  /** Why the block is not run; undefined when it runs. */
  skip?: string;
  /** Shell lines run before the block. */
  setup?: string;
  /** Strings the block's output must contain. */
  expect: string[];
}

const MARKER = /^<!--\s*docs-test:\s*([\s\S]*?)\s*-->$/;

/** Parses the blocks of `text` (the contents of `file`). Throws on an unclosed fence or a bad marker. */
export function docBlocks(file: string, text: string): DocBlock[] {
  const lines = text.split("\n");
  const blocks: DocBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i] as string);
    if (!open) {
      i++;
      continue;
    }
    const indent = open[1]?.length ?? 0;
    const fence = open[2] as string;
    const start = i;
    const body: string[] = [];
    i++;
    while (i < lines.length && !(lines[i] as string).trimStart().startsWith(fence)) {
      body.push((lines[i] as string).slice(Math.min(indent, leadingSpaces(lines[i] as string))));
      i++;
    }
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: the code block is never closed`);
    i++;
    const block: DocBlock = {
      file,
      line: start + 1,
      lang: open[3] ?? "",
      code: `${body.join("\n")}\n`,
      expect: [],
    };
    for (const m of markersAbove(lines, start)) applyMarker(block, m);
    blocks.push(block);
  }
  return blocks;
}

function leadingSpaces(s: string): number {
  return s.length - s.trimStart().length;
}

/** The `docs-test:` comments directly above line `start` (top to bottom). */
function markersAbove(lines: string[], start: number): string[] {
  const found: string[] = [];
  let j = start - 1;
  while (j >= 0) {
    const l = (lines[j] as string).trim();
    if (l === "") {
      j--;
      continue;
    }
    if (!l.endsWith("-->")) break;
    // A comment may span lines: find where it opens.
    let k = j;
    while (k >= 0 && !(lines[k] as string).trimStart().startsWith("<!--")) k--;
    if (k < 0) break;
    const comment = lines
      .slice(k, j + 1)
      .join("\n")
      .trim();
    const m = MARKER.exec(comment);
    if (!m) break;
    found.unshift(m[1] as string);
    j = k - 1;
  }
  return found;
}

function applyMarker(block: DocBlock, marker: string): void {
  const where = `${block.file}:${block.line}`;
  const [word = "", ...rest] = marker.split(/\s+/);
  const arg = marker.slice(word.length).trim();
  if (word === "skip") {
    if (arg.length === 0) throw new Error(`${where}: a skipped block needs a reason`);
    block.skip = arg.replace(/^\((.*)\)$/s, "$1");
  } else if (word === "setup") {
    block.setup = `${block.setup ?? ""}${marker.slice(marker.indexOf("setup") + 5).trim()}\n`;
  } else if (word === "expect") {
    const strings = [...arg.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    if (strings.length === 0 || rest.length === 0) throw new Error(`${where}: expect needs quoted strings`);
    block.expect.push(...strings);
  } else {
    throw new Error(`${where}: unknown docs-test marker "${word}" (skip, setup or expect)`);
  }
}
