// The shim's C sources are imported as file assets: Bun gives their path on
// disk, and `bun build --compile` embeds them in the executable.
declare module "*.c" {
  const path: string;
  export default path;
}
declare module "*.h" {
  const path: string;
  export default path;
}
