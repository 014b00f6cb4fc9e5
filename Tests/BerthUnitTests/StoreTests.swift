import BerthImage
import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Testing

@Suite struct StoreTests {
    func tempRoot() throws -> String {
        let d = "/tmp/berth-unit-store-" + String(Identifier.random64().prefix(12))
        try FS.mkdirAll(d)
        return d
    }

    @Test func migrationsCreateSchemaAndReopen() throws {
        let d = try tempRoot()
        defer { FS.removeAll(d) }
        do {
            let s = try Store(path: d + "/berth.db")
            try s.insertContainer(ContainerRecord(id: "c1", name: "one", image_id: "sha256:x", image_name: "x", created: 1,
                                                  config: Data("{}".utf8), host_config: Data("{}".utf8), command: "sh", labels: "{}"))
        } catch let e as BerthError {
            // A container needs its image (foreign key).
            #expect(e.message.contains("FOREIGN KEY"))
        }
        let s = try Store(path: d + "/berth.db")
        try s.insertLayer(LayerRecord(chain_id: "sha256:l", diff_id: "sha256:l", parent_chain_id: nil, size: 1, created: 1))
        try s.putImage(ImageRecord(id: "sha256:i", config: Data("{}".utf8), created: 1, size: 1, last_tag_time: 0, parent_id: ""),
                       layers: ["sha256:l"], references: [ImageRefRecord(reference: "a:1", image_id: "sha256:i", kind: "tag", created: 2)])
        try s.insertContainer(ContainerRecord(id: "c1", name: "one", image_id: "sha256:i", image_name: "a:1", created: 1,
                                              config: Data("{}".utf8), host_config: Data("{}".utf8), command: "sh", labels: "{}"))
        #expect(throws: BerthError.self) {
            try s.insertContainer(ContainerRecord(id: "c2", name: "one", image_id: "sha256:i", image_name: "a:1", created: 1,
                                                  config: Data("{}".utf8), host_config: Data("{}".utf8), command: "sh", labels: "{}"))
        }
        // Reopening runs no migration twice and keeps the data.
        let again = try Store(path: d + "/berth.db")
        #expect(try again.container(named: "one")?.id == "c1")
        #expect(try again.reference("a:1")?.image_id == "sha256:i")
        #expect(throws: BerthError.self) { try again.deleteImage("sha256:i") }
        try again.deleteContainer("c1")
        try again.deleteImage("sha256:i")
        #expect(try again.deleteUnreferencedLayers() == ["sha256:l"])
    }

    /// The list snapshot never outlives a write: each kind of change shows in the next list.
    @Test func containerListFollowsEveryWrite() throws {
        let d = try tempRoot()
        defer { FS.removeAll(d) }
        let s = try Store(path: d + "/berth.db")
        try s.putImage(ImageRecord(id: "sha256:i", config: Data("{}".utf8), created: 1, size: 1, last_tag_time: 0, parent_id: ""),
                       layers: [], references: [])
        func add(_ id: String, _ created: Int64) throws {
            try s.insertContainer(ContainerRecord(id: id, name: "n-" + id, image_id: "sha256:i", image_name: "i", created: created,
                                                  config: Data("{}".utf8), host_config: Data("{}".utf8), command: "sh", labels: "{}"))
        }
        #expect(try s.containerList().isEmpty)
        try add("c1", 1)
        #expect(try s.containerList().map(\.id) == ["c1"])
        #expect(try s.containerList().map(\.id) == ["c1"])  // served from the snapshot
        try add("c2", 2)
        #expect(try s.containerList().map(\.id) == ["c2", "c1"])
        try s.updateContainer("c1") { $0.status = "running" }
        #expect(try s.containerList().last?.status == "running")
        try s.renameContainer("c1", to: "renamed")
        #expect(try s.containerList().last?.name == "renamed")
        #expect(throws: BerthError.self) { try s.updateContainer("missing") { $0.status = "x" } }
        try s.deleteContainer("c2")
        #expect(try s.containerList().map(\.id) == ["c1"])
    }

    @Test func layerReconcileFinishesRenamesAndDropsStrays() throws {
        let d = try tempRoot()
        defer { FS.removeAll(d) }
        let s = try Store(path: d + "/berth.db")
        let layers = try LayerStore(dataRoot: d, store: s)
        let hex = String(repeating: "a", count: 64)
        // A crash between the commit and the rename: the row exists, the data is still staged.
        try s.insertLayer(LayerRecord(chain_id: "sha256:" + hex, diff_id: "sha256:" + hex, parent_chain_id: nil, size: 0, created: 1))
        try FS.mkdirAll(d + "/tmp/layer-" + hex + "-0a1b2c3d/diff")
        try FS.write(d + "/tmp/layer-" + hex + "-0a1b2c3d/diff/f", "x")
        // A directory no row names (a crash after deleting a row).
        try FS.mkdirAll(d + "/layers/" + String(repeating: "b", count: 64) + "/diff")
        try layers.reconcile()
        #expect(FS.exists(layers.diffPath(try Digest(hex: hex)) + "/f"))
        #expect(!FS.exists(d + "/layers/" + String(repeating: "b", count: 64)))
        #expect(!FS.exists(d + "/tmp/layer-" + hex + "-0a1b2c3d"))
    }
}
