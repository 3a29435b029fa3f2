// Application mode across replicas (issue 34): three built gateways sharing one real redis-server (with its
// append-only file), 20 emulated portals whose tokens live 2 s (replicas-suite.ts says what is proven).
import { replicaSuite } from './replicas-suite';

replicaSuite('one redis-server');
