declare module 'node-gyp-build' {
  /** Loads the addon of the package at `root`: a prebuild, else build/Release. */
  function load(root: string): unknown;
  export = load;
}
