-- Every event of docs/events.md, once at least: catalogue_test.go runs this on a fresh database
-- and compares the payloads it publishes with the catalogue's examples.
insert into families (id,name) values ('f0000000-0000-4000-8000-000000000001','The Demo Family');
insert into users (id,family_id,name,role) values
 ('a0000000-0000-4000-8000-00000000000a','f0000000-0000-4000-8000-000000000001','Alex','parent'),
 ('b0000000-0000-4000-8000-00000000000b','f0000000-0000-4000-8000-000000000001','Sam','parent'),
 ('c0000000-0000-4000-8000-00000000000c','f0000000-0000-4000-8000-000000000001','Robin','child');
insert into tasks (id,family_id,name,description,assignment_type,assigned_to,karma,created_by) values ('70000000-0000-4000-8000-000000000001','f0000000-0000-4000-8000-000000000001','Take out the trash',null,'member','c0000000-0000-4000-8000-00000000000c',5,'a0000000-0000-4000-8000-00000000000a');
update tasks set karma=10 where id='70000000-0000-4000-8000-000000000001';
update tasks set assignment_type='role', assigned_to=null, assigned_role='child' where id='70000000-0000-4000-8000-000000000001';
update tasks set status='completed', completed_by='c0000000-0000-4000-8000-00000000000c', completed_at=now() where id='70000000-0000-4000-8000-000000000001';
update tasks set deleted_at=now() where id='70000000-0000-4000-8000-000000000001';
insert into karma_transactions (id,family_id,user_id,amount,reason,actor_id,task_id) values ('40000000-0000-4000-8000-000000000001','f0000000-0000-4000-8000-000000000001','c0000000-0000-4000-8000-00000000000c',10,'Took out the trash','a0000000-0000-4000-8000-00000000000a','70000000-0000-4000-8000-000000000001');
insert into karma_transactions (id,family_id,user_id,amount,reason,actor_id) values ('40000000-0000-4000-8000-000000000002','f0000000-0000-4000-8000-000000000001','c0000000-0000-4000-8000-00000000000c',-3,'Left the bike in the rain','b0000000-0000-4000-8000-00000000000b');
insert into rewards (id,family_id,name,cost) values ('e0000000-0000-4000-8000-000000000001','f0000000-0000-4000-8000-000000000001','Movie night',5);
insert into claims (id,family_id,reward_id,user_id) values ('d0000000-0000-4000-8000-000000000001','f0000000-0000-4000-8000-000000000001','e0000000-0000-4000-8000-000000000001','c0000000-0000-4000-8000-00000000000c');
update claims set status='approved', decided_by='a0000000-0000-4000-8000-00000000000a' where id='d0000000-0000-4000-8000-000000000001';
update claims set status='completed' where id='d0000000-0000-4000-8000-000000000001';
insert into claims (id,family_id,reward_id,user_id) values ('d0000000-0000-4000-8000-000000000002','f0000000-0000-4000-8000-000000000001','e0000000-0000-4000-8000-000000000001','c0000000-0000-4000-8000-00000000000c');
update claims set status='rejected', decided_by='b0000000-0000-4000-8000-00000000000b' where id='d0000000-0000-4000-8000-000000000002';
insert into claims (id,family_id,reward_id,user_id) values ('d0000000-0000-4000-8000-000000000003','f0000000-0000-4000-8000-000000000001','e0000000-0000-4000-8000-000000000001','c0000000-0000-4000-8000-00000000000c');
update claims set status='cancelled' where id='d0000000-0000-4000-8000-000000000003';
insert into chats (id,family_id,name) values ('c1000000-0000-4000-8000-000000000001','f0000000-0000-4000-8000-000000000001','Family chat');
insert into chat_members (chat_id,user_id) values ('c1000000-0000-4000-8000-000000000001','a0000000-0000-4000-8000-00000000000a'),('c1000000-0000-4000-8000-000000000001','c0000000-0000-4000-8000-00000000000c');
update chats set name='Weekend plans' where id='c1000000-0000-4000-8000-000000000001';
insert into chat_members (chat_id,user_id) values ('c1000000-0000-4000-8000-000000000001','b0000000-0000-4000-8000-00000000000b');
delete from chat_members where chat_id='c1000000-0000-4000-8000-000000000001' and user_id='b0000000-0000-4000-8000-00000000000b';
insert into messages (id,chat_id,user_id,body) values ('50000000-0000-4000-8000-000000000001','c1000000-0000-4000-8000-000000000001','c0000000-0000-4000-8000-00000000000c','Pizza tonight?');
update messages set body='Pizza tonight? (or pasta)', edited_at=now() where id='50000000-0000-4000-8000-000000000001';
insert into message_reads (message_id,user_id) values ('50000000-0000-4000-8000-000000000001','a0000000-0000-4000-8000-00000000000a');
update messages set deleted_at=now() where id='50000000-0000-4000-8000-000000000001';
