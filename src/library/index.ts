/** `trellis-mesh/client`: the mesh in a Node app's own process (docs/proxyless.md). */
export { createMeshClient, type MeshClient, type MeshClientOptions } from './client.js';
export { MeshDispatcher } from './dispatcher.js';
