import BerthSystem
import Foundation
import GRDB

extension Store {
    // MARK: volumes

    /// Adds a volume; false when one of that name exists (it is then kept as it is).
    @discardableResult
    public func insertVolume(_ v: VolumeRecord) throws -> Bool {
        try wr { db in
            if try VolumeRecord.fetchOne(db, key: v.name) != nil { return false }
            try v.insert(db)
            return true
        }
    }
    public func volume(_ name: String) throws -> VolumeRecord? { try rd { try VolumeRecord.fetchOne($0, key: name) } }
    public func allVolumes() throws -> [VolumeRecord] { try rd { try VolumeRecord.order(Column("created")).fetchAll($0) } }

    /// The containers that mount a volume.
    public func volumeUsers(_ name: String) throws -> [String] {
        try rd { try String.fetchAll($0, sql: "SELECT DISTINCT container_id FROM container_mounts WHERE name = ?", arguments: [name]) }
    }
    /// Volume name → number of containers mounting it.
    public func volumeUseCounts() throws -> [String: Int] {
        try rd { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, COUNT(DISTINCT container_id) FROM container_mounts WHERE name <> '' GROUP BY name") {
                out[row[0]] = row[1]
            }
            return out
        }
    }

    /// Deletes a volume no container uses (`inUse` makes the error from the users otherwise),
    /// checked in the same transaction.
    public func deleteVolume(_ name: String, inUse: @escaping @Sendable ([String]) -> BerthError) throws {
        try wr { db in
            let users = try String.fetchAll(db, sql: "SELECT DISTINCT container_id FROM container_mounts WHERE name = ?", arguments: [name])
            if !users.isEmpty { throw inUse(users) }
            try db.execute(sql: "DELETE FROM volumes WHERE name = ?", arguments: [name])
        }
    }

    // MARK: container mounts

    public func insertMounts(_ mounts: [MountRecord]) throws {
        guard !mounts.isEmpty else { return }
        try wr { db in for m in mounts { try m.insert(db) } }
    }
    /// Containers with a mount of one of these volume names, bind sources or destinations.
    public func containersMounting(_ refs: [String]) throws -> [String] {
        try rd { db in
            var out: [String] = []
            for r in refs {
                out += try String.fetchAll(db, sql: "SELECT DISTINCT container_id FROM container_mounts WHERE name = ? OR destination = ? OR source = ?",
                                           arguments: [r, r, r])
            }
            return out
        }
    }

    /// Every container's mounts (for a list of containers: one read, not one per row).
    public func allMounts() throws -> [String: [MountRecord]] {
        try rd { Dictionary(grouping: try MountRecord.order(Column("position")).fetchAll($0), by: \.container_id) }
    }

    public func mounts(container: String) throws -> [MountRecord] {
        try rd { try MountRecord.filter(Column("container_id") == container).order(Column("position")).fetchAll($0) }
    }
}

extension Store {
    /// How many containers with a process mount the volume.
    public func runningVolumeUsers(_ name: String) throws -> Int {
        try rd { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(DISTINCT m.container_id) FROM container_mounts m JOIN containers c ON c.id = m.container_id
                WHERE m.name = ? AND c.status IN ('running', 'paused', 'restarting')
                """, arguments: [name]) ?? 0
        }
    }
}
