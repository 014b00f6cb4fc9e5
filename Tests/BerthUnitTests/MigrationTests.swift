import BerthStore
import BerthSystem
import Foundation
import GRDB
import Testing

/// Each store migration, applied to a database left by the one before it with data in it: what
/// was there survives, and what the migration adds has its documented default.
@Suite struct MigrationTests {
    static let names = ["v1", "v2-list-columns", "v3-events", "v4-layer-blobs", "v5-lifecycle", "v6-health", "v7-networks", "v8-ipv6", "v9-volumes", "v10-build-cache", "v11-build-cache-use"]

    /// A database migrated up to `last` (all of them when nil), in a fresh directory.
    func database(upTo last: String?) throws -> (String, DatabaseQueue) {
        let d = "/tmp/berth-unit-migration-" + String(Identifier.random64().prefix(12))
        try FS.mkdirAll(d)
        let q = try DatabaseQueue(path: d + "/berth.db")
        if let last { try Schema.migrator.migrate(q, upTo: last) }
        return (d, q)
    }

    /// Rows that every version of the schema has: a layer, an image on it, a container of it.
    func seed(_ q: DatabaseQueue) throws {
        try q.write { db in
            try db.execute(sql: "INSERT INTO layers (chain_id, diff_id, size, created) VALUES ('sha256:l', 'sha256:l', 1, 1)")
            try db.execute(sql: "INSERT INTO images (id, config, created, size) VALUES ('sha256:i', X'7B7D', 1, 1)")
            try db.execute(sql: "INSERT INTO image_layers (image_id, position, chain_id) VALUES ('sha256:i', 0, 'sha256:l')")
            try db.execute(sql: """
                INSERT INTO containers (id, name, image_id, image_name, created, config, host_config, command, status, exit_code, restart_count)
                VALUES ('c1', '/one', 'sha256:i', 'img', 1, X'7B7D', X'7B7D', 'sh', 'exited', 3, 2)
                """)
        }
    }

    @Test func theListIsComplete() {
        #expect(Schema.migrator.migrations == Self.names)
    }

    @Test(arguments: 1..<names.count) func migrationKeepsDataAndAddsDefaults(_ index: Int) throws {
        let (dir, q) = try database(upTo: Self.names[index - 1])
        defer { FS.removeAll(dir) }
        try seed(q)
        try Schema.migrator.migrate(q, upTo: Self.names[index])
        try q.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT * FROM containers WHERE id = 'c1'"))
            #expect(row["name"] as String == "/one")
            #expect(row["exit_code"] as Int == 3)
            #expect(row["restart_count"] as Int == 2)
            switch Self.names[index] {
            case "v2-list-columns":
                #expect(row["network_mode"] as String == "bridge")
            case "v3-events":
                #expect(try db.tableExists("events"))
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM events") == 0)
            case "v4-layer-blobs":
                #expect(try db.tableExists("layer_blobs"))
                #expect(try db.columns(in: "layer_blobs").map(\.name).sorted() == ["diff_id", "digest", "media_type", "repository", "size"])
            case "v5-lifecycle":
                #expect(row["manually_stopped"] as Bool == false)
                #expect(row["backoff_ms"] as Int == 0)
                #expect(row["restart_at"] as Int == 0)
            case "v6-health":
                #expect(row["health"] as String == "")
            case "v7-networks":
                #expect(row["ports"] as String == "")
                #expect(try db.tableExists("networks") && db.tableExists("endpoints"))
            case "v8-ipv6":
                #expect(try db.columns(in: "networks").map(\.name).contains("subnet6"))
                #expect(try db.columns(in: "endpoints").map(\.name).contains("ip6"))
            case "v10-build-cache":
                #expect(try db.tableExists("build_cache"))
            case "v11-build-cache-use":
                #expect(try db.columns(in: "build_cache").map(\.name).sorted() == ["created", "image_id", "key", "last_used", "usage_count"])
            case "v9-volumes":
                #expect(try db.tableExists("volumes") && db.tableExists("container_mounts"))
            default:
                Issue.record("no check for migration \(Self.names[index])")
            }
        }
    }

    /// An address is unique on its network; endpoints without one ("") are not.
    @Test func addressesAreUniquePerNetwork() throws {
        let (dir, q) = try database(upTo: "v7-networks")
        defer { FS.removeAll(dir) }
        try seed(q)
        try q.write { db in
            try db.execute(sql: "INSERT INTO networks (id, name, driver, created, ipam) VALUES ('n1', 'net', 'bridge', 0, x'7B7D')")
            try db.execute(sql: "CREATE TEMP TABLE c AS SELECT * FROM containers WHERE id = 'c1'")
            try db.execute(sql: "UPDATE c SET id = 'c2', name = '/two'")
            try db.execute(sql: "INSERT INTO containers SELECT * FROM c")
            try db.execute(sql: "INSERT INTO endpoints (container_id, network_id, config, ip) VALUES ('c1', 'n1', x'7B7D', ''), ('c2', 'n1', x'7B7D', '')")
            try db.execute(sql: "UPDATE endpoints SET ip = '10.0.0.2' WHERE container_id = 'c1'")
        }
        #expect(throws: (any Error).self) { try q.write { try $0.execute(sql: "UPDATE endpoints SET ip = '10.0.0.2' WHERE container_id = 'c2'") } }
        // The same for IPv6 addresses (v8).
        try Schema.migrator.migrate(q, upTo: "v8-ipv6")
        try q.write { try $0.execute(sql: "UPDATE endpoints SET ip6 = 'fd00::2' WHERE container_id = 'c1'") }
        #expect(throws: (any Error).self) { try q.write { try $0.execute(sql: "UPDATE endpoints SET ip6 = 'fd00::2' WHERE container_id = 'c2'") } }
        try q.write { try $0.execute(sql: "UPDATE endpoints SET ip6 = 'fd00::3' WHERE container_id = 'c2'") }
    }

    /// The first schema, then the store opened over it: every migration runs, the data reads back.
    @Test func storeOpensAnOldDatabase() throws {
        let (dir, q) = try database(upTo: "v1")
        defer { FS.removeAll(dir) }
        try seed(q)
        try q.close()
        let s = try Store(path: dir + "/berth.db")
        let c = try #require(try s.container(named: "/one") ?? s.container("c1"))
        #expect(c.exit_code == 3 && c.restart_count == 2 && c.health == "" && c.network_mode == "bridge")
        #expect(try s.completedMigrations() == Self.names)
    }
}
