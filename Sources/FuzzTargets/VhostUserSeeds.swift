import MagmaPlatform
import MagmaVhostUser
import MagmaWire

/// Seed inputs for the vhost-user target (`VhostUserTarget`): control commands carried in
/// chains of the control ring the way a guest's virtio_gpu driver sends them, and front-end
/// requests that stop, restart and reconfigure rings, so mutations start deep in both decoders.
public enum VhostUserSeeds {
    private static let page = SharedMemory.pageSize
    private static let context: UInt32 = 1

    /// The records that send `commands` on the control ring, one chain each: command `i`'s
    /// bytes at guest page 4 + 2i, its response buffer the page after; the descriptor table
    /// (page 0) written whole each time, the head published and kicked, then a wait for the call.
    private static func controlChains(_ commands: [(VirtioGPU.Command, UInt32)]) -> [ServerTarget.Record] {
        var records: [ServerTarget.Record] = []
        var table: [UInt8] = []
        for (index, (command, contextId)) in commands.enumerated() {
            let bytes = VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0, contextId: contextId), command)
            let commandPage = 4 + 2 * index
            records.append(guestWrite(bytes, page: commandPage))
            table += descriptor(address: commandPage * page, length: bytes.count, flags: 1, next: UInt16(2 * index + 1))
            table += descriptor(address: (commandPage + 1) * page, length: page, flags: 2, next: 0)
            records.append(guestWrite(table, page: 0))
            records.append(ServerTarget.Record(control: 2, bytes: le16(UInt16(2 * index))))
            records.append(ServerTarget.Record(control: 3, bytes: []))
        }
        return records
    }

    private static func descriptor(address: Int, length: Int, flags: UInt16, next: UInt16) -> [UInt8] {
        VhostUserTarget.le64(UInt64(address)) + VhostUserTarget.le32(UInt32(length)) + le16(flags) + le16(next)
    }

    private static func guestWrite(_ bytes: [UInt8], page: Int) -> ServerTarget.Record {
        ServerTarget.Record(control: UInt8(page << 2) | 1, bytes: bytes)
    }

    /// A vhost-user message record with `fds` eventfds beside it.
    private static func message(_ request: VhostUserRequest, _ payload: [UInt8] = [], fds: UInt8 = 0) -> ServerTarget.Record {
        ServerTarget.Record(control: fds << 2, bytes: VhostUserTarget.le32(request.rawValue) + VhostUserTarget.le32(VhostUserMessage.version) + payload)
    }

    private static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }

    private static func encode(_ records: [ServerTarget.Record]) -> [UInt8] { records.flatMap(\.encoded) }

    /// The seeds; the second and third send 2 and 6 control chains the device answers.
    public static func seeds() throws -> [[UInt8]] {
        let backing = [VirtioGPU.MemoryEntry(address: UInt64(24 * page), length: UInt32(2 * page))]
        return [
            [],
            // The capset a guest's driver reads first.
            encode(controlChains([(.getCapsetInfo(index: 0), 0), (.getCapset(id: VirtioGPU.magmaCapsetId, version: 0), 0)])),
            // A context and a guest-page resource attached to it, then both dropped.
            encode(controlChains([
                (.contextCreate(contextInit: VirtioGPU.magmaCapsetId, debugName: Array("fuzz".utf8)), context),
                (.resourceCreate3D(.buffer(id: 1, size: UInt32(2 * page))), 0),
                (.resourceAttachBacking(resourceId: 1, entries: backing), 0),
                (.contextAttachResource(resourceId: 1), context),
                (.resourceUnref(resourceId: 1), 0),
                (.contextDestroy, context),
            ])),
            // A chain that loops back on itself.
            encode([guestWrite(descriptor(address: 8 * page, length: 16, flags: 1, next: 0), page: 0),
                    ServerTarget.Record(control: 2, bytes: le16(0)), ServerTarget.Record(control: 3, bytes: [])]),
            // The front-end's requests around a running ring: stopped, given a new size and kick, restarted.
            encode([
                message(.getFeatures), message(.getProtocolFeatures), message(.getQueueNum),
                message(.getConfig, VhostUserTarget.le32(0) + VhostUserTarget.le32(24) + VhostUserTarget.le32(0) + [UInt8](repeating: 0, count: 24)),
                message(.getVringBase, VhostUserTarget.le32(1) + VhostUserTarget.le32(0)),
                message(.setVringNum, VhostUserTarget.le32(1) + VhostUserTarget.le32(16)),
                message(.setVringKick, VhostUserTarget.le64(1), fds: 1),
                message(.setVringEnable, VhostUserTarget.le32(1) + VhostUserTarget.le32(1)),
                ServerTarget.Record(control: 2 | 4, bytes: le16(0)),
                message(.resetDevice),
            ]),
        ]
    }
}
