import net, { type Socket } from "node:net";
import { AbortError, type Transport } from "@libp2p/interface";
import { type TCPComponents, type TCPDialOptions, type TCPOptions, tcp } from "@libp2p/tcp";
import type { Multiaddr } from "@multiformats/multiaddr";
import { RegistryError } from "../errors.ts";

/** @libp2p/tcp's transport: `dial` opens its socket through `_connect`, then upgrades it. */
type TcpTransport = Transport & { _connect(ma: Multiaddr, options: TCPDialOptions): Promise<Socket> };

function hasConnect(transport: Transport): transport is TcpTransport {
  return typeof (transport as Partial<TcpTransport>)._connect === "function";
}

/**
 * `@libp2p/tcp`, except that a dial's AbortSignal never reaches its socket.
 *
 * `@libp2p/tcp` hands the dial's signal to `net.connect`, and when that signal aborts before
 * the socket connects (the node stopping, a dial timing out), it drops its 'error' listener
 * in the same abort event in which the socket destroys itself with an AbortError. That error
 * is emitted a tick later with no listener left: an uncaught exception. Here the socket is
 * opened without the signal and keeps its 'error' listener; an abort destroys it without an
 * error.
 *
 * @example createLibp2p({ transports: [abortSafeTcp()] })
 */
export function abortSafeTcp(init: TCPOptions = {}): (components: TCPComponents) => Transport {
  const create = tcp(init);
  return (components) => {
    const transport = create(components);
    if (!hasConnect(transport)) throw new RegistryError("INTERNAL", "@libp2p/tcp has no _connect");
    transport._connect = (ma, options) => connectSocket(ma, { ...init.dialOpts, ...options });
    return transport;
  };
}

/** `net.connect` options for a `/ip4|ip6|dns*\/…/tcp/…` or `/unix/…` address. */
function netTarget(ma: Multiaddr): { host: string; port: number } | { path: string } {
  const components = ma.getComponents();
  const unix = components.find((c) => c.name === "unix")?.value;
  if (unix !== undefined) return { path: unix };
  const host = components.find((c) => ["ip4", "ip6", "dns", "dns4", "dns6"].includes(c.name))?.value;
  const port = Number(components.find((c) => c.name === "tcp")?.value);
  if (host === undefined || !Number.isInteger(port)) {
    throw new RegistryError("INVALID_INPUT", `not a TCP address: ${ma.toString()}`);
  }
  return { host, port };
}

/** What `connectSocket` reads of a dial's options. */
export type ConnectOptions = Pick<
  TCPDialOptions,
  "signal" | "onProgress" | "noDelay" | "keepAlive" | "keepAliveInitialDelay" | "allowHalfOpen"
>;

/**
 * Opens a TCP socket to `ma`, settling once it connects, fails, or `options.signal` aborts.
 * The socket keeps an 'error' listener until it is connected (then the caller adds its
 * own), so no error it emits, even one already queued when the dial gave up, goes unheard.
 */
export async function connectSocket(ma: Multiaddr, options: ConnectOptions): Promise<Socket> {
  const { signal } = options;
  signal.throwIfAborted();
  options.onProgress?.({ type: "tcp:open-connection", detail: undefined });
  const target = netTarget(ma);
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      ...target,
      noDelay: options.noDelay,
      keepAlive: options.keepAlive,
      keepAliveInitialDelay: options.keepAliveInitialDelay,
      allowHalfOpen: options.allowHalfOpen,
    });
    let settled = false;
    const onError = (err: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      const to = "path" in target ? target.path : `${target.host}:${target.port}`;
      err.message = `connection error ${to}: ${err.message}`;
      reject(err);
    };
    const onAbort = () => {
      if (settled) return;
      settled = true;
      socket.removeListener("connect", onConnect);
      // Without an error: a destroyed socket emits 'close' only; `onError` stays to hear any
      // error that was already on its way.
      socket.destroy();
      reject(new AbortError());
    };
    const onConnect = () => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.removeListener("error", onError);
      resolve(socket);
    };
    socket.on("error", onError);
    socket.once("connect", onConnect);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
