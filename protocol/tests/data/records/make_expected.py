# Copies the capture frames the records golden tests use and writes expected.json
# (per batch: header fields, first/last record, timestamp sum, keys, value bytes)
# from the captures' decoded.json (Apache Kafka 4.0 client library output).
import json, shutil, os
import sys

# Usage: python3 make_expected.py <path to shared/captures>  (run from this folder)
CAP = sys.argv[1]
OUT = os.path.dirname(os.path.abspath(__file__))
frames = {
 'kafka-4.0/produce-codecs': ['0004-Produce-v10-request.bin','0008-Produce-v10-request.bin','0012-Produce-v10-request.bin','0016-Produce-v10-request.bin','0020-Produce-v10-request.bin','0026-Produce-v12-request.bin','0027-Produce-v12-request.bin','0032-Produce-v12-request.bin','0033-Produce-v12-request.bin','0038-Produce-v12-request.bin','0039-Produce-v12-request.bin','0044-Produce-v12-request.bin','0045-Produce-v12-request.bin','0050-Produce-v12-request.bin','0051-Produce-v12-request.bin'],
 'kafka-4.0/transactions': ['0025-Produce-v10-request.bin','0037-Produce-v10-request.bin','0053-Fetch-v16-response.bin','0062-Fetch-v16-response.bin','0069-Fetch-v17-response.bin'],
 'kafka-4.0/consume-assign': ['0016-Fetch-v16-response.bin','0061-Fetch-v16-response.bin','0070-Fetch-v16-response.bin','0088-Fetch-v16-response.bin','0113-Fetch-v16-response.bin'],
 'tansu-0.6/transactions': ['0039-Fetch-v16-response.bin'],
}
def val(v):
    if v is None: return None
    if 'utf8' in v: return {'utf8': v['utf8']}
    return {'base64': v['base64']}
def rec(r):
    o={'offset':r['offset'],'timestamp':r['timestamp'],'key':val(r.get('key')),'value':val(r.get('value')),
       'headers':[[h['key'], val(h.get('value'))] for h in r['headers']]}
    if 'controlType' in r: o['controlType']=r['controlType']; o['coordinatorEpoch']=r.get('coordinatorEpoch')
    return o
expected={}
for scen, files in frames.items():
    d=json.load(open(f'{CAP}/{scen}/decoded.json'))
    tag=scen.replace('/','_')
    for fn in files:
        f=d['frames'][fn]
        name=f'{tag}_{fn}'
        shutil.copy(f'{CAP}/{scen}/{fn}', f'{OUT}/{name}')
        os.chmod(f'{OUT}/{name}', 0o644)
        parts=[]
        for p in f['records']:
            bl=[]
            for b in p['batches']:
                rs=b['records']
                bl.append({k:b[k] for k in ['baseOffset','lastOffset','sizeInBytes','crc','compression','timestampType','maxTimestamp','partitionLeaderEpoch','producerId','producerEpoch','baseSequence','isTransactional','isControlBatch','recordCount']} |
                  {'first':rec(rs[0]),'last':rec(rs[-1]),'timestampSum':sum(r['timestamp'] for r in rs),
                   'keys':[ (r['key'] or {}).get('utf8') for r in rs], 'valueBytes':sum(len(r['value'].get('utf8','')) if r.get('value') else 0 for r in rs)})
            parts.append({'topic':p.get('topic'),'topicId':p.get('topicId'),'partition':p['partition'],'batches':bl})
        hdr=f['header']
        expected[name]={'apiVersion':hdr.get('apiVersion'),'headerLength':hdr['headerLength'],'partitions':parts}
json.dump(expected, open(f'{OUT}/expected.json','w'), separators=(',',':'))
