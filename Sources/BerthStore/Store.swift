import BerthSystem
import Foundation
import GRDB
import Synchronization

/// The metadata store. Reads run concurrently (WAL snapshots) and never wait for a container
/// operation; writes are short transactions.
public final class Store: Sendable {
    let pool: DatabasePool
    /// Bumped after every write to the containers table; a list snapshot is good while it matches.
    private let containerGeneration = Atomic<UInt64>(0)
    /// The last `containerList()` result, so listing many containers again costs a copy, not a
    /// query that reads every row's pages (configs included). Only this class writes containers.
    private let listSnapshot = Mutex<(generation: UInt64, rows: [ContainerListRow])?>(nil)

    /// `migrate: false` for a reader beside berthd (the resolver process): the schema is berthd's.
    public init(path: String, migrate: Bool = true) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            if migrate { try Schema.migrator.migrate(pool) }
        } catch {
            throw BerthError.system("open store \(path): \(error)")
        }
    }

    func rd<T>(_ f: (Database) throws -> T) throws -> T {
        do { return try pool.read(f) } catch let e as BerthError { throw e } catch { throw BerthError.system("store: \(error)") }
    }

    func wr<T>(_ f: (Database) throws -> T) throws -> T {
        do { return try pool.write(f) } catch let e as BerthError { throw e } catch { throw BerthError.system("store: \(error)") }
    }

    // MARK: layers

    public func layer(_ chainID: String) throws -> LayerRecord? { try rd { try LayerRecord.fetchOne($0, key: chainID) } }
    public func allLayers() throws -> [LayerRecord] { try rd { try LayerRecord.fetchAll($0) } }
    public func insertLayer(_ l: LayerRecord) throws { try wr { try l.insert($0, onConflict: .ignore) } }

    /// Layers no image references any more, deleted in one transaction; returns their chain ids.
    /// `keeping` are layers in use that no image row names yet (a pull in progress).
    public func deleteUnreferencedLayers(keeping: Set<String> = []) throws -> [String] {
        try wr { db in
            // Children before parents: repeat until nothing more is free.
            var removed: [String] = []
            while true {
                let ids = try String.fetchAll(db, sql: """
                    SELECT chain_id FROM layers l WHERE NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)
                    AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent_chain_id = l.chain_id)
                    """).filter { !keeping.contains($0) }
                if ids.isEmpty { return removed }
                for id in ids { try db.execute(sql: "DELETE FROM layers WHERE chain_id = ?", arguments: [id]) }
                removed += ids
            }
        }
    }

    public func recordLayerBlob(_ b: LayerBlobRecord) throws { try wr { try b.insert($0, onConflict: .replace) } }
    public func allLayerBlobRepositories() throws -> [String] {
        try rd { try String.fetchAll($0, sql: "SELECT DISTINCT repository FROM layer_blobs") }
    }
    public func layerBlobs(diffID: String) throws -> [LayerBlobRecord] {
        try rd { try LayerBlobRecord.filter(Column("diff_id") == diffID).fetchAll($0) }
    }

    public func deleteLayer(_ chainID: String) throws {
        try wr { db in try db.execute(sql: "DELETE FROM layers WHERE chain_id = ?", arguments: [chainID]) }
    }

    // MARK: images

    /// Adds an image with its layer list and references; existing references move to it.
    /// Returns the image ids that lost their last reference as a consequence.
    @discardableResult
    public func putImage(_ image: ImageRecord, layers: [String], references: [ImageRefRecord]) throws -> [String] {
        try wr { db in
            if try ImageRecord.fetchOne(db, key: image.id) == nil {
                try image.insert(db)
                for (i, c) in layers.enumerated() { try ImageLayerRecord(image_id: image.id, position: i, chain_id: c).insert(db) }
            }
            return try Self.setRefs(db, references)
        }
    }

    static func setRefs(_ db: Database, _ refs: [ImageRefRecord]) throws -> [String] {
        var orphaned: [String] = []
        for r in refs {
            if let old = try ImageRefRecord.fetchOne(db, key: r.reference), old.image_id != r.image_id {
                try old.delete(db)
                if try ImageRefRecord.filter(Column("image_id") == old.image_id).fetchCount(db) == 0 { orphaned.append(old.image_id) }
            }
            try r.save(db)
            try db.execute(sql: "UPDATE images SET last_tag_time = ? WHERE id = ?", arguments: [r.created, r.image_id])
        }
        return orphaned
    }

    @discardableResult
    public func addReference(_ r: ImageRefRecord) throws -> [String] { try wr { try Self.setRefs($0, [r]) } }

    public func image(_ id: String) throws -> ImageRecord? {
        try rd { try ImageRecord.fetchOne($0.cachedStatement(sql: "SELECT * FROM images WHERE id = ?"), arguments: [id]) }
    }
    public func allImages() throws -> [ImageRecord] { try rd { try ImageRecord.fetchAll($0) } }
    /// Gives an image without a parent one (a `--cache-from` image a build step found: dockerd
    /// links it under the step's parent, so the steps before it are its intermediate images).
    public func adoptImage(_ id: String, parent: String) throws {
        try wr { try $0.execute(sql: "UPDATE images SET parent_id = ? WHERE id = ? AND parent_id = '' AND id != ?", arguments: [parent, id, parent]) }
    }

    /// Whether some image names `id` as its parent.
    public func hasChildren(_ id: String) throws -> Bool {
        try rd { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM images WHERE parent_id = ?", arguments: [id]) ?? 0 } > 0
    }

    /// Image ids starting with `prefix` (hex, without `sha256:`).
    public func imageIDs(prefix: String) throws -> [String] {
        try rd { try String.fetchAll($0, sql: "SELECT id FROM images WHERE id LIKE ? LIMIT 2", arguments: ["sha256:" + prefix + "%"]) }
    }

    public func reference(_ ref: String) throws -> ImageRefRecord? {
        try rd { try ImageRefRecord.fetchOne($0.cachedStatement(sql: "SELECT * FROM image_refs WHERE reference = ?"), arguments: [ref]) }
    }
    public func allReferences() throws -> [ImageRefRecord] { try rd { try ImageRefRecord.order(Column("created")).fetchAll($0) } }
    public func references(of imageID: String) throws -> [ImageRefRecord] {
        try rd { try ImageRefRecord.filter(Column("image_id") == imageID).order(Column("created")).fetchAll($0) }
    }

    /// Removes a reference; true when the image has no references left.
    public func deleteReference(_ ref: String) throws -> Bool {
        try wr { db in
            guard let r = try ImageRefRecord.fetchOne(db, key: ref) else { return false }
            try r.delete(db)
            return try ImageRefRecord.filter(Column("image_id") == r.image_id).fetchCount(db) == 0
        }
    }

    public func imageLayers(_ imageID: String) throws -> [LayerRecord] {
        try rd { db in
            try LayerRecord.fetchAll(db.cachedStatement(sql: """
                SELECT l.* FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
                WHERE il.image_id = ? ORDER BY il.position
                """), arguments: [imageID])
        }
    }

    /// Deletes an image (its references and layer links go with it) unless a container uses it.
    public func deleteImage(_ id: String) throws {
        try wr { db in
            if let c = try String.fetchOne(db, sql: "SELECT id FROM containers WHERE image_id = ? LIMIT 1", arguments: [id]) {
                throw BerthError.conflict("image is being used by container \(c.prefix(12))")
            }
            try db.execute(sql: "DELETE FROM images WHERE id = ?", arguments: [id])
        }
    }

    public func containersUsing(image: String) throws -> [ContainerRecord] {
        try rd { try ContainerRecord.filter(Column("image_id") == image).fetchAll($0) }
    }

    // MARK: containers

    /// Every write to the containers table goes through here, so list snapshots are dropped.
    private func containerWrite<T>(_ f: () throws -> T) rethrows -> T {
        defer { containerGeneration.add(1, ordering: .sequentiallyConsistent) }
        return try f()
    }

    /// The migrations applied to this database, in order.
    public func completedMigrations() throws -> [String] {
        do { return try pool.read { try Schema.migrator.appliedMigrations($0) } } catch { throw BerthError.system("\(error)") }
    }

    public func insertContainer(_ c: ContainerRecord) throws {
        try containerWrite {
            do {
                try pool.write { db in try c.insert(db) }
            } catch let e as DatabaseError where e.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw BerthError.conflict("name \(c.name) in use")
            } catch let e as BerthError { throw e } catch { throw BerthError.system("store: \(error)") }
        }
    }

    public func container(_ id: String) throws -> ContainerRecord? {
        try rd { try ContainerRecord.fetchOne($0.cachedStatement(sql: "SELECT * FROM containers WHERE id = ?"), arguments: [id]) }
    }
    /// Just a container's status, run generation and start time (what a health probe checks
    /// each time), without reading its configuration.
    public func containerRun(_ id: String) throws -> (status: String, generation: Int64, startedAt: Int64)? {
        try rd { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT status, run_generation, started_at FROM containers WHERE id = ?"),
                                             arguments: [id]) else { return nil }
            return (row[0], row[1], row[2])
        }
    }
    public func container(named name: String) throws -> ContainerRecord? {
        try rd { try ContainerRecord.fetchOne($0.cachedStatement(sql: "SELECT * FROM containers WHERE name = ?"), arguments: [name]) }
    }
    public func containerIDs(prefix: String) throws -> [String] {
        try rd { try String.fetchAll($0, sql: "SELECT id FROM containers WHERE id LIKE ? LIMIT 2", arguments: [prefix + "%"]) }
    }
    public func allContainers() throws -> [ContainerRecord] {
        try rd { try ContainerRecord.order(Column("created").desc).fetchAll($0) }
    }
    /// Newest first, narrow columns only (for listing).
    public func containerList() throws -> [ContainerListRow] {
        let generation = containerGeneration.load(ordering: .sequentiallyConsistent)
        if let s = listSnapshot.withLock({ $0 }), s.generation == generation { return s.rows }
        let rows = try rd { try ContainerListRow.fetchAll($0.cachedStatement(sql: "SELECT \(ContainerListRow.columns) FROM containers ORDER BY created DESC")) }
        // Kept only if no write began since the generation was read: the rows may predate it.
        listSnapshot.withLock { s in
            if containerGeneration.load(ordering: .sequentiallyConsistent) == generation { s = (generation, rows) }
        }
        return rows
    }

    /// Reads a container, lets `change` edit it and writes it back in one transaction.
    @discardableResult
    public func updateContainer(_ id: String, _ change: (inout ContainerRecord) throws -> Void) throws -> ContainerRecord {
        try containerWrite { try wr { db in
            guard var c = try ContainerRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM containers WHERE id = ?"), arguments: [id])
            else { throw BerthError.notFound("No such container: \(id)") }
            try change(&c)
            try c.update(db)
            return c
        } }
    }

    public func renameContainer(_ id: String, to name: String) throws {
        try containerWrite { try wr { db in
            if try ContainerRecord.filter(Column("name") == name).fetchCount(db) > 0 {
                throw BerthError.conflict("name \(name) in use")
            }
            try db.execute(sql: "UPDATE containers SET name = ? WHERE id = ?", arguments: [name, id])
        } }
    }

    public func deleteContainer(_ id: String) throws {
        try containerWrite { try wr { db in try db.cachedStatement(sql: "DELETE FROM containers WHERE id = ?").execute(arguments: [id]) } }
    }

    // MARK: events

    /// How many events are kept; older ones are dropped as new ones arrive.
    public static let eventLimit: Int64 = 10_000

    @discardableResult
    public func insertEvent(_ e: EventRecord) throws -> EventRecord {
        try wr { db in
            var r = e
            try r.insert(db)
            if let seq = r.seq, seq % 256 == 0 {
                try db.execute(sql: "DELETE FROM events WHERE seq <= ?", arguments: [seq - Self.eventLimit])
            }
            return r
        }
    }

    /// Events with `since <= time_nano <= until` (0 = open), oldest first.
    public func events(since: Int64, until: Int64) throws -> [EventRecord] {
        try rd { db in
            try EventRecord.fetchAll(db, sql: "SELECT * FROM events WHERE time_nano >= ? AND (? = 0 OR time_nano <= ?) ORDER BY seq",
                                     arguments: [since, until, until])
        }
    }

    // MARK: execs

    public func insertExec(_ e: ExecRecord) throws { try wr { try e.insert($0) } }
    public func exec(_ id: String) throws -> ExecRecord? { try rd { try ExecRecord.fetchOne($0, key: id) } }
    public func execs(of containerID: String) throws -> [ExecRecord] {
        try rd { try ExecRecord.filter(Column("container_id") == containerID).fetchAll($0) }
    }
    public func updateExec(_ id: String, _ change: (inout ExecRecord) -> Void) throws {
        try wr { db in
            guard var e = try ExecRecord.fetchOne(db, key: id) else { return }
            change(&e)
            try e.update(db)
        }
    }
}
