"""Fails when modules of a crate import each other in a cycle (issue 21).

A module depends on a sibling when it names it through `crate::` (or
`super::`); tests and comments are ignored. Run from the workspace root with
the crate directories as arguments; prints each cycle and exits 1.
"""
import os, re, sys
def crate_modules(src):
    mods={}
    for root,_,files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            path=os.path.join(root,f)
            rel=os.path.relpath(path,src)
            parts=rel[:-3].split(os.sep)
            if parts[-1]=='mod': parts=parts[:-1]
            if parts in (['lib'],['main']): parts=[]
            mods['::'.join(parts)]=open(path).read()
    return mods
def top(name): return name.split('::')[0] if name else ''
found = False
for crate in sys.argv[1:]:
    src=os.path.join(crate,'src')
    mods=crate_modules(src)
    # edges at every level: module m (path) -> sibling referenced via crate::a::b
    edges={}
    for m,text in mods.items():
        # strip test modules
        text=re.split(r'#\[cfg\(test\)\]\s*mod tests',text)[0]
        text=re.sub(r'//[^\n]*','',text)
        for ref in re.findall(r'crate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)',text):
            # compare at the level of the first differing segment between m and ref
            mp=m.split('::') if m else []
            rp=ref.split('::')
            # common prefix
            k=0
            while k<len(mp) and k<len(rp) and mp[k]==rp[k]: k+=1
            if k>=len(mp) or k>=len(rp): continue  # ancestor/descendant
            a='::'.join(mp[:k+1]); b='::'.join(rp[:k+1])
            if a!=b and b in mods or any(x.startswith(b+'::') for x in mods):
                edges.setdefault(a,set()).add(b)
        for ref in re.findall(r'\bsuper::([a-z_][a-z0-9_]*)',text):
            mp=m.split('::') if m else []
            if len(mp)<1: continue
            parent=mp[:-1]
            b='::'.join(parent+[ref])
            a=m
            if b!=a and (b in mods):
                edges.setdefault(a,set()).add(b)
    # find cycles (Tarjan)
    index={};low={};stack=[];on=set();res=[];i=[0]
    nodes=set(edges)|{x for v in edges.values() for x in v}
    sys.setrecursionlimit(10000)
    def sc(v):
        index[v]=low[v]=i[0];i[0]+=1;stack.append(v);on.add(v)
        for w in edges.get(v,()):
            if w not in index: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],index[w])
        if low[v]==index[v]:
            comp=[]
            while True:
                w=stack.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: res.append(comp)
    for v in sorted(nodes):
        if v not in index: sc(v)
    for c in res:
        found = True
        print(crate, 'cycle:', sorted(c))
sys.exit(1 if found else 0)
