/** The world map's shapes, projected by scripts/build-ui.mjs at build time. */
declare module 'virtual:world-shapes' {
  const world: { width: number; height: number; shapes: { cc: string; name: string; d: string }[] };
  export default world;
}
