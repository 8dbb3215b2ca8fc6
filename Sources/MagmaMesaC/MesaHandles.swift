import CMagmaMesa
import Magma
import MagmaCSupport
import MagmaProtocol

/// What each handle of magma_mesa.h stands for. A handle is an opaque pointer whose bits are a
/// `HandleTable` number, never an address: a closed, made-up or wrong-kind handle is simply not
/// found (INVALID_ARGS), and nothing the caller passes is ever dereferenced as an object.
enum MesaHandles {
    static let physicalDevices = HandleTable<PhysicalDevice>()
    static let devices = HandleTable<LogicalDevice>()
    static let addressSpaces = HandleTable<AddressSpace>()
    static let queues = HandleTable<Queue>()
    static let buffers = HandleTable<DeviceBuffer>()
    static let syncObjects = HandleTable<SyncObject>()

    /// The opaque pointer of handle number `handle` (never 0, so never NULL).
    static func pointer(_ handle: UInt64) -> OpaquePointer {
        OpaquePointer(bitPattern: UInt(handle))!
    }

    /// The handle number behind a caller's pointer (0 for NULL, which no table holds).
    static func number(_ pointer: OpaquePointer?) -> UInt64 {
        UInt64(UInt(bitPattern: pointer))
    }

    /// The object behind `pointer` in `table`; INVALID_ARGS (naming `what`) if there is none.
    static func lookUp<Object>(_ pointer: OpaquePointer?, in table: HandleTable<Object>, _ what: String) throws(MagmaError) -> Object {
        guard let object = table.get(number(pointer)) else { throw .invalidArgs("unknown \(what)") }
        return object
    }

    /// Forgets every handle of an object `device` made: it closed them all.
    static func forgetObjects(of device: LogicalDevice) {
        addressSpaces.removeAll { $0.device === device }
        queues.removeAll { $0.addressSpace.device === device }
        buffers.removeAll { $0.device === device }
        syncObjects.removeAll { $0.device === device }
    }
}
