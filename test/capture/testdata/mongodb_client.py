# The pymongo client of TestMongoDB (test/capture/mongodb_test.go), also what made
# capture/protocols/mongodb/testdata/pymongo.pcap: one connection doing what an application does,
# then a PLAIN login on a second one.
import sys
import pymongo
from pymongo import InsertOne
from pymongo.errors import BulkWriteError, OperationFailure
from pymongo.write_concern import WriteConcern

addr, password = sys.argv[1], sys.argv[2]
c = pymongo.MongoClient("mongodb://%s/" % addr, compressors="zlib", serverSelectionTimeoutMS=5000, retryWrites=False)
db = c.audit
db.users.drop()
db.users.insert_many([{"_id": i, "name": "user%d" % i, "age": 20 + i} for i in range(10)])
assert len(list(db.users.find({"age": {"$gt": 25}}, {"name": 1}))) == 4
db.users.update_one({"_id": 1}, {"$set": {"age": 99}})
db.users.delete_one({"_id": 2})
agg = list(db.users.aggregate([{"$match": {"age": {"$gte": 20}}}, {"$group": {"_id": None, "n": {"$sum": 1}}}]))
assert agg[0]["n"] == 9, agg
assert db.command("count", "users", query={"age": {"$lt": 25}})["n"] == 3
db.users.create_index("name")
assert len(list(db.users.find({}, batch_size=3))) == 9
try:
    db.users.bulk_write([InsertOne({"_id": 100}), InsertOne({"_id": 3}), InsertOne({"_id": 101})], ordered=False)
    raise SystemExit("bulk write did not fail")
except BulkWriteError as e:
    assert len(e.details["writeErrors"]) == 1, e.details
try:
    db.users.find_one({"age": {"$bogus": 1}})
    raise SystemExit("invalid operator did not fail")
except OperationFailure:
    pass
db.users.drop()
c.close()
a = pymongo.MongoClient("mongodb://app:%s@%s/audit?authMechanism=PLAIN" % (password, addr), serverSelectionTimeoutMS=5000)
a.audit.command("ping")
a.close()
# An unacknowledged write (OP_MSG moreToCome) on its own connection, last: FerretDB 1.24
# answers it although no reply is due, which would confuse a client that goes on.
w = pymongo.MongoClient("mongodb://%s/" % addr, serverSelectionTimeoutMS=5000, w=0)
w.audit.log.insert_one({"event": "done"})
w.close()
print("ok")
