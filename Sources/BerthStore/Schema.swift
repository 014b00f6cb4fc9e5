import GRDB

/// The metadata schema, in SQLite (WAL), migrated in order by `Schema.migrator`.
///
///     layers          chain_id PK ─┐  diff_id, parent_chain_id, size, created
///       ▲                          │  (one row per unpacked layer dir: layers/<chain hex>/diff)
///       │ chain_id                 │
///     image_layers    image_id, position ──► images.id      (an image's layers, bottom first)
///     images          id PK (sha256:<config digest>), config (JSON blob), created, size, last_tag_time
///     image_refs      reference PK (normalised name:tag or name@digest) ──► images.id
///     containers      id PK, name UNIQUE, image_id ──► images.id (no cascade: deleting an
///                     image in use is refused), config/host_config JSON, state columns
///     execs           id PK, container_id ──► containers.id ON DELETE CASCADE
///     events          seq PK, time_nano, type, action, actor_id, attributes (JSON); the newest
///                     `Store.eventLimit` are kept
///     layer_blobs     (diff_id, digest, repository) PK: compressed blobs known to carry a layer
///                     in a registry repository (pull and push record them; push reuses them)
///
/// Reference counts of layers are derived: a layer is in use while an `image_layers` row names it
/// (containers keep their image, so the image's layers). Garbage collection deletes the rows
/// and renames the directory away in that order; start-up reconciliation finishes whatever a
/// crash interrupted (see `Store.reconcileLayers`).
public enum Schema {
    public static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "layers") { t in
                t.primaryKey("chain_id", .text)
                t.column("diff_id", .text).notNull()
                t.column("parent_chain_id", .text)
                t.column("size", .integer).notNull().defaults(to: 0)
                t.column("created", .integer).notNull()
            }
            try db.create(table: "images") { t in
                t.primaryKey("id", .text)
                t.column("config", .blob).notNull()
                t.column("created", .integer).notNull()
                t.column("size", .integer).notNull()
                t.column("last_tag_time", .integer).notNull().defaults(to: 0)
                t.column("parent_id", .text).notNull().defaults(to: "")
            }
            try db.create(table: "image_layers") { t in
                t.column("image_id", .text).notNull().references("images", onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("chain_id", .text).notNull().references("layers")
                t.primaryKey(["image_id", "position"])
            }
            try db.create(index: "image_layers_chain", on: "image_layers", columns: ["chain_id"])
            try db.create(table: "image_refs") { t in
                t.primaryKey("reference", .text)
                t.column("image_id", .text).notNull().references("images", onDelete: .cascade)
                t.column("kind", .text).notNull()
                t.column("created", .integer).notNull()
            }
            try db.create(index: "image_refs_image", on: "image_refs", columns: ["image_id"])
            try db.create(table: "containers") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("image_id", .text).notNull().references("images")
                t.column("image_name", .text).notNull()
                t.column("created", .integer).notNull()
                t.column("config", .blob).notNull()
                t.column("host_config", .blob).notNull()
                t.column("command", .text).notNull()
                t.column("labels", .text).notNull().defaults(to: "{}")
                t.column("status", .text).notNull()
                t.column("pid", .integer).notNull().defaults(to: 0)
                t.column("monitor_pid", .integer).notNull().defaults(to: 0)
                t.column("exit_code", .integer).notNull().defaults(to: 0)
                t.column("oom_killed", .boolean).notNull().defaults(to: false)
                t.column("error", .text).notNull().defaults(to: "")
                t.column("started_at", .integer).notNull().defaults(to: 0)
                t.column("finished_at", .integer).notNull().defaults(to: 0)
                t.column("restart_count", .integer).notNull().defaults(to: 0)
                t.column("run_generation", .integer).notNull().defaults(to: 0)
            }
            try db.create(index: "containers_image", on: "containers", columns: ["image_id"])
            try db.create(table: "execs") { t in
                t.primaryKey("id", .text)
                t.column("container_id", .text).notNull().references("containers", onDelete: .cascade)
                t.column("config", .blob).notNull()
                t.column("running", .boolean).notNull().defaults(to: false)
                t.column("exit_code", .integer)
                t.column("pid", .integer).notNull().defaults(to: 0)
                t.column("created", .integer).notNull()
            }
        }
        m.registerMigration("v2-list-columns") { db in
            // Listing reads only narrow columns; the network mode no longer needs the HostConfig blob.
            try db.alter(table: "containers") { t in
                t.add(column: "network_mode", .text).notNull().defaults(to: "bridge")
            }
        }
        m.registerMigration("v3-events") { db in
            try db.create(table: "events") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("time_nano", .integer).notNull()
                t.column("type", .text).notNull()
                t.column("action", .text).notNull()
                t.column("actor_id", .text).notNull()
                t.column("attributes", .text).notNull()
            }
            try db.create(index: "events_time", on: "events", columns: ["time_nano"])
        }
        m.registerMigration("v4-layer-blobs") { db in
            // Which compressed blob carries a layer, and in which repositories it is known to be:
            // a push skips or mounts what a registry already has, as dockerd's v2 metadata does.
            try db.create(table: "layer_blobs") { t in
                t.column("diff_id", .text).notNull()
                t.column("digest", .text).notNull()
                t.column("media_type", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("repository", .text).notNull()
                t.primaryKey(["diff_id", "digest", "repository"])
            }
        }
        m.registerMigration("v5-lifecycle") { db in
            // Restart policies: whether a user stopped the container, the last restart delay (it
            // doubles while runs stay short), and when a scheduled restart is due (so a berthd
            // killed during the delay picks it up again).
            try db.alter(table: "containers") { t in
                t.add(column: "manually_stopped", .boolean).notNull().defaults(to: false)
                t.add(column: "backoff_ms", .integer).notNull().defaults(to: 0)
                t.add(column: "restart_at", .integer).notNull().defaults(to: 0)
            }
        }
        m.registerMigration("v6-health") { db in
            // The health check state (State.Health as JSON), "" for a container without one.
            try db.alter(table: "containers") { t in
                t.add(column: "health", .text).notNull().defaults(to: "")
            }
        }
        m.registerMigration("v7-networks") { db in
            // Networks and the endpoints that join containers to them. An endpoint's address is
            // written in the same transaction that picks it, and (network, ip) is unique, so an
            // address is never handed out twice, crash or not.
            try db.create(table: "networks") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("driver", .text).notNull()
                t.column("created", .integer).notNull()
                t.column("bridge", .text).notNull().defaults(to: "")
                t.column("subnet", .text).notNull().defaults(to: "")
                t.column("gateway", .text).notNull().defaults(to: "")
                t.column("ip_range", .text).notNull().defaults(to: "")
                t.column("internal", .boolean).notNull().defaults(to: false)
                t.column("ipv6", .boolean).notNull().defaults(to: false)
                t.column("attachable", .boolean).notNull().defaults(to: false)
                t.column("ipam", .blob).notNull()
                t.column("options", .text).notNull().defaults(to: "{}")
                t.column("labels", .text).notNull().defaults(to: "{}")
            }
            try db.create(table: "endpoints") { t in
                t.column("container_id", .text).notNull().references("containers", onDelete: .cascade)
                t.column("network_id", .text).notNull().references("networks")
                t.column("config", .blob).notNull()
                t.column("endpoint_id", .text).notNull().defaults(to: "")
                t.column("ip", .text).notNull().defaults(to: "")
                t.column("mac", .text).notNull().defaults(to: "")
                t.column("position", .integer).notNull().defaults(to: 0)
                t.primaryKey(["container_id", "network_id"])
            }
            try db.execute(sql: "CREATE UNIQUE INDEX endpoints_address ON endpoints(network_id, ip) WHERE ip <> ''")
            try db.create(index: "endpoints_network", on: "endpoints", columns: ["network_id"])
            try db.alter(table: "containers") { t in t.add(column: "ports", .text).notNull().defaults(to: "") }
        }
        m.registerMigration("v8-ipv6") { db in
            // IPv6 beside IPv4: a network's second subnet and gateway, an endpoint's second
            // address, unique per network like the first.
            try db.alter(table: "networks") { t in
                t.add(column: "subnet6", .text).notNull().defaults(to: "")
                t.add(column: "gateway6", .text).notNull().defaults(to: "")
            }
            try db.alter(table: "endpoints") { t in t.add(column: "ip6", .text).notNull().defaults(to: "") }
            try db.execute(sql: "CREATE UNIQUE INDEX endpoints_address6 ON endpoints(network_id, ip6) WHERE ip6 <> ''")
        }
        m.registerMigration("v9-volumes") { db in
            // Volumes, and each container's mounts. A volume's users are the mount rows naming it
            // (no stored counters); a container's rows go with it.
            try db.create(table: "volumes") { t in
                t.primaryKey("name", .text)
                t.column("driver", .text).notNull().defaults(to: "local")
                t.column("created", .integer).notNull()
                t.column("labels", .text).notNull().defaults(to: "")
                t.column("options", .text).notNull().defaults(to: "")
                t.column("anonymous", .boolean).notNull().defaults(to: false)
            }
            try db.create(table: "container_mounts") { t in
                t.column("container_id", .text).notNull().references("containers", onDelete: .cascade)
                t.column("type", .text).notNull()
                t.column("name", .text).notNull().defaults(to: "")
                t.column("source", .text).notNull().defaults(to: "")
                t.column("destination", .text).notNull()
                t.column("rw", .boolean).notNull().defaults(to: true)
                t.column("mode", .text).notNull().defaults(to: "")
                t.column("propagation", .text).notNull().defaults(to: "")
                t.column("copy_up", .boolean).notNull().defaults(to: false)
                t.column("subpath", .text).notNull().defaults(to: "")
                t.column("position", .integer).notNull().defaults(to: 0)
                t.primaryKey(["container_id", "destination"])
            }
            try db.create(index: "container_mounts_volume", on: "container_mounts", columns: ["name"])
        }
        m.registerMigration("v10-build-cache") { db in
            // The classic builder's cache: a step's key (its parent image, the instruction, the
            // build args in effect, the files it copies) → the image it made.
            try db.create(table: "build_cache") { t in
                t.primaryKey("key", .text)
                t.column("image_id", .text).notNull()
                t.column("created", .integer).notNull()
            }
        }
        m.registerMigration("v11-build-cache-use") { db in
            // When a cached step was last used and how often (`BuildCache` in /system/df).
            try db.alter(table: "build_cache") { t in
                t.add(column: "last_used", .integer).notNull().defaults(to: 0)
                t.add(column: "usage_count", .integer).notNull().defaults(to: 0)
            }
        }
        return m
    }
}
