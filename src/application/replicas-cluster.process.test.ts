// Application mode across replicas (issue 34), on a real three-node Redis Cluster (REDIS_CLUSTER=true):
// the same suite as on one redis-server (replicas-suite.ts), each portal's keys in one slot, the node that
// holds a portal's slot stalled in its turn.
import { replicaSuite } from './replicas-suite';

replicaSuite('a three-node Redis Cluster');
